/**
 * The apps of the city: customers who quote, book, watch and sometimes cancel; transporters
 * who set up fleets, watch offers, accept or decline, and assign drivers; drivers who go
 * online, stream GPS over StreamLocation (acks, re-sending what was not acked after a
 * reconnect), drive to the pickup and the drop, and move each trip through every status with
 * the codes the customer reads from GetBooking. They use only the gateway's public API.
 */
export { CustomerApp } from "./apps/customer.js";
export { DriverApp } from "./apps/driver.js";
export { TransporterApp } from "./apps/transporter.js";
export { statusName, type World } from "./apps/world.js";
