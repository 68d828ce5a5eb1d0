/**
 * Identity's driver directory alone, against a fake fleet on the mesh (mutual TLS, as fleet):
 * the answers it turns into the login rule, fleet refusing a call, and fleet down.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FleetDirectoryServiceService } from "@weelo/contracts/grpc/weelo/fleet/v1/fleet_directory_service";
import { GrpcCode, InvalidArgumentError } from "@weelo/errors";
import { createMeshClient, Mesh } from "@weelo/grpc";
import { failure } from "@weelo/testing";
import { fakeService, startFakeUpstream, type FakeUpstream } from "@weelo/testing/fake-upstream";
import { createFleetDriverDirectory } from "./fleet-driver-directory.js";

const REGISTERED = "+919812345678";

describe("identity's driver directory over fleet's FleetDirectoryService", () => {
  let dataDir: string;
  let mesh: Mesh;
  let fleet: FakeUpstream;
  const linked: { phone: string; userId: string; caller: string | undefined }[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "identity-directory-"));
    mesh = await Mesh.create(
      { MESH_TRUST_DOMAIN: "weelo", MESH_CERT_REFRESH_MS: 60_000, DATA_DIR: dataDir },
      { allowDevelopmentCa: true },
    );
    fleet = await startFakeUpstream(
      [
        fakeService(FleetDirectoryServiceService, {
          findActiveDriverByPhone: ({ phone }) => {
            if (phone === "123") throw new InvalidArgumentError("phone", "not a phone number");
            return phone === REGISTERED
              ? { found: true, transporterId: "t-1", driverId: "d-1" }
              : { found: false, transporterId: "", driverId: "" };
          },
          linkDriverAccount: ({ phone, userId }, call) => {
            linked.push({ phone, userId, caller: call.caller });
            const found = phone === REGISTERED;
            return { found, driverId: found ? "d-1" : "", transporterId: found ? "t-1" : "" };
          },
        }),
      ],
      { mesh },
    );
  });

  after(async () => {
    await fleet.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const directoryAt = (address: string) =>
    createFleetDriverDirectory(
      createMeshClient(FleetDirectoryServiceService, address, { mesh, caller: "identity", deadlineMs: 2000 }),
    );

  it("finds the registered driver's transporter, nothing for other phones, and links the account as identity", async () => {
    const directory = directoryAt(fleet.address);
    assert.deepEqual(await directory.findActiveDriver(REGISTERED), { transporterId: "t-1", driverId: "d-1" });
    assert.equal(await directory.findActiveDriver("+919800000000"), undefined);
    await directory.linkAccount(REGISTERED, "u-1");
    assert.deepEqual(linked, [{ phone: REGISTERED, userId: "u-1", caller: "identity" }]);
  });

  it("passes fleet's refusal on with its code and field", async () => {
    const refused = await failure(directoryAt(fleet.address).findActiveDriver("123"));
    assert.equal(refused.code, GrpcCode.INVALID_ARGUMENT);
    assert.equal(refused.field, "phone");
  });

  it("fails UNAVAILABLE when fleet is down (a driver login is refused, never let through)", async () => {
    const down = await startFakeUpstream([fakeService(FleetDirectoryServiceService, {})], { mesh });
    await down.stop();
    const refused = await failure(directoryAt(down.address).findActiveDriver(REGISTERED));
    assert.equal(refused.code, GrpcCode.UNAVAILABLE);
  });
});
