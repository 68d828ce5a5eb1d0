/**
 * Example requests shown (and sent by "Try it") in the API reference, by message type. Values
 * accepted by both the REST aliases and Connect, so one example serves both routes.
 */
const EXAMPLES: Record<string, unknown> = {
  "weelo.identity.v1.SendOtpRequest": { phone: "9876543210", role: "ROLE_CUSTOMER" },
  "weelo.identity.v1.VerifyOtpRequest": { phone: "9876543210", otp: "123456", role: "ROLE_CUSTOMER" },
  "weelo.identity.v1.RefreshTokenRequest": { refreshToken: "<refresh token from VerifyOtp>" },
  "weelo.identity.v1.LogoutRequest": {},
  "weelo.pricing.v1.ListVehicleTypesRequest": {},
  "weelo.pricing.v1.GetQuoteRequest": {
    pickup: { lat: 18.5286, lng: 73.8743 },
    drop: { lat: 18.5912, lng: 73.7389 },
    vehicleType: "mini_truck",
    vehicleCount: 1,
  },
  "weelo.fleet.v1.AddVehicleRequest": {
    idempotencyKey: "add-MH12AB1234",
    registrationNumber: "MH12AB1234",
    vehicleType: "mini_truck",
    capacityKg: 750,
    makeModel: "Tata Ace Gold",
  },
};

export function exampleOf(typeName: string): unknown {
  return EXAMPLES[typeName];
}
