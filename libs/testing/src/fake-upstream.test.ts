/**
 * The fake upstream itself, through the platform's own client: answers, a thrown DomainError with
 * its code and reason, UNIMPLEMENTED for a method without a handler, a server stream and its
 * failure, the calls it saw, and UNAVAILABLE once it is down.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DispatchServiceService } from "@weelo/contracts/grpc/weelo/dispatch/v1/dispatch_service";
import { FailedPreconditionError, GrpcCode, UnavailableError } from "@weelo/errors";
import { createClient, type ServiceClient } from "@weelo/grpc";
import { fakeService, startFakeUpstream, type FakeUpstream } from "./fake-upstream.js";
import { failure } from "./index.js";

describe("fake upstream", () => {
  let fake: FakeUpstream;
  let client: ServiceClient<typeof DispatchServiceService>;
  let streamFails = false;

  before(async () => {
    fake = await startFakeUpstream([
      fakeService(DispatchServiceService, {
        listOffers: () => ({ offers: [], nextPageToken: "next" }),
        acceptOffer: () => {
          throw new FailedPreconditionError("taken by another transporter", { reason: "ALREADY_TAKEN" });
        },
        async *watchOffers() {
          yield { kind: { $case: "caughtUp", value: { openOffers: 0 } } };
          if (streamFails) throw new UnavailableError("the offer feed is down");
          yield { kind: { $case: "caughtUp", value: { openOffers: 1 } } };
        },
      }),
    ]);
    client = createClient(DispatchServiceService, fake.address, { deadlineMs: 2000 });
  });

  after(async () => {
    client.close();
    await fake.stop();
  });

  it("answers with the test's handler and records the call", async () => {
    assert.equal((await client.listOffers({ status: 0, pageSize: 1, pageToken: "" })).nextPageToken, "next");
    assert.ok(fake.calls.includes("ListOffers"));
  });

  it("sends a thrown DomainError as the real service would: its code and reason", async () => {
    const refused = await failure(client.acceptOffer({ offerId: "o", vehicleCount: 1 }));
    assert.equal(refused.code, GrpcCode.FAILED_PRECONDITION);
    assert.equal(refused.reason, "ALREADY_TAKEN");
  });

  it("answers UNIMPLEMENTED for a method the test gave no handler", async () => {
    const refused = await failure(client.declineOffer({ offerId: "o", reason: "" }));
    assert.equal(refused.code, GrpcCode.UNIMPLEMENTED);
  });

  it("streams the handler's messages, and ends a stream with the error it throws", async () => {
    const seen: number[] = [];
    for await (const message of client.watchOffers({}))
      if (message.kind?.$case === "caughtUp") seen.push(message.kind.value.openOffers);
    assert.deepEqual(seen, [0, 1]);
    streamFails = true;
    const failed = await failure(
      (async () => {
        for await (const _ of client.watchOffers({}));
      })(),
    );
    assert.equal(failed.code, GrpcCode.UNAVAILABLE);
  });

  it("fails UNAVAILABLE once it is down", async () => {
    const down = await startFakeUpstream([fakeService(DispatchServiceService, {})]);
    await down.stop();
    const downClient = createClient(DispatchServiceService, down.address, { deadlineMs: 2000 });
    try {
      const refused = await failure(downClient.listOffers({ status: 0, pageSize: 1, pageToken: "" }));
      assert.equal(refused.code, GrpcCode.UNAVAILABLE);
    } finally {
      downClient.close();
    }
  });
});
