/**
 * The seam for the driver-login rule: a driver may log in only with a phone that a
 * transporter registered. The fleet service answers it (createFleetDriverDirectory,
 * fleet-driver-directory.ts); without fleet, in development only, the open directory lets any phone log
 * in as a driver with no transporter.
 */
export interface DriverDirectory {
  /** The transporter that registered this phone as an active driver, or undefined. */
  findActiveDriver(phone: string): Promise<{ transporterId: string } | undefined>;
  /** Tells the directory which account logs in with this phone (after every driver login). */
  linkAccount?(phone: string, userId: string): Promise<void>;
}

export const openDriverDirectory: DriverDirectory & { readonly open: true } = {
  open: true,
  async findActiveDriver() {
    return { transporterId: "" };
  },
};
