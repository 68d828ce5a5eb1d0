import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { createLogger, runWithContext } from "./index.js";

function capture() {
  const lines: any[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ service: "test", level: "debug", destination }) };
}

describe("logger", () => {
  it("puts the request id of the active context on every line", async () => {
    const { lines, logger } = capture();
    await runWithContext({ requestId: "req-1", userId: "u-1" }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      logger.info("inside");
    });
    logger.info("outside");
    assert.equal(lines[0].requestId, "req-1");
    assert.equal(lines[0].userId, "u-1");
    assert.equal(lines[0].service, "test");
    assert.equal(lines[1].requestId, undefined);
  });

  it("redacts tokens, OTPs and secrets wherever they sit", () => {
    const { lines, logger } = capture();
    logger.info(
      {
        otp: "123456",
        accessToken: "eyJ.a.b",
        req: { headers: { authorization: "Bearer x" } },
        body: { refresh_token: "r", devOtp: "1" },
        phone: "+919876543210",
      },
      "x",
    );
    const line = JSON.stringify(lines[0]);
    for (const secret of ["123456", "eyJ.a.b", "Bearer x", '"r"']) assert.ok(!line.includes(secret), secret);
    assert.equal(lines[0].otp, "[redacted]");
    assert.equal(lines[0].phone, "+919876543210");
  });
});
