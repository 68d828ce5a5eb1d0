/**
 * The seam for the driver-login rule: a driver may log in only with a phone that a
 * transporter registered. The fleet service answers it; until it is wired in, the open
 * directory lets any phone log in as a driver with no transporter.
 */
export interface DriverDirectory {
  /** The transporter that registered this phone as an active driver, or undefined. */
  findActiveDriver(phone: string): Promise<{ transporterId: string } | undefined>;
}

export const openDriverDirectory: DriverDirectory & { readonly open: true } = {
  open: true,
  async findActiveDriver() {
    return { transporterId: "" };
  },
};
