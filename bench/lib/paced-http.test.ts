/**
 * The paced load's HTTP/1.1 client against a real node:http server: every request answered once
 * with its status (content-length and chunked bodies, keep-alive reuse, a server closing the
 * connection), and the response parser on split and joined bytes.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { PacedHttp, parseResponse } from "./paced-http.js";

describe("paced HTTP client", () => {
  let url: URL;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      if (req.url === "/chunked") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("part one, ");
        res.end("part two");
      } else if (req.url === "/close") {
        res.writeHead(503, { connection: "close" });
        res.end("bye");
      } else {
        res.writeHead(body === '{"n":1}' ? 200 : 429, { "content-type": "application/json" });
        res.end(body);
      }
    });
  });
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(() => server.close());

  const run = async (path: string, bodies: string[], maxSockets: number) => {
    const http = new PacedHttp({
      url: new URL(path, url),
      method: "POST",
      headers: { "content-type": "application/json" },
      maxSockets,
      timeoutMs: 5000,
    });
    const statuses = await Promise.all(
      bodies.map(
        (body) =>
          new Promise<number>((resolve) =>
            http.send(http.requestBytes(Buffer.from(body)), performance.now(), {
              done: (status, latencyMs, error) => {
                assert.ok(latencyMs >= 0);
                resolve(error ? -1 : status);
              },
            }),
          ),
      ),
    );
    http.close();
    return statuses;
  };

  it("answers every request once, with its own status, over at most maxSockets keep-alive sockets", async () => {
    let connections = 0;
    const count = () => (connections += 1);
    server.on("connection", count);
    const bodies = Array.from({ length: 40 }, (_, i) => `{"n":${i % 2}}`);
    const statuses = await run("/", bodies, 4);
    assert.deepEqual(
      statuses,
      bodies.map((b) => (b === '{"n":1}' ? 200 : 429)),
    );
    assert.ok(connections <= 4, `${connections} connections`);
    server.off("connection", count);
  });

  it("reads chunked bodies and reconnects when the server closes", async () => {
    assert.deepEqual(await run("/chunked", ["{}", "{}", "{}"], 1), [200, 200, 200]);
    assert.deepEqual(await run("/close", ["{}", "{}", "{}"], 1), [503, 503, 503]);
  });

  it("parses a response only once it is whole", () => {
    const whole = Buffer.from("HTTP/1.1 429 Too Many Requests\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n");
    assert.deepEqual(parseResponse(whole), { status: 429, length: whole.indexOf("HTTP/1.1 200"), close: false });
    assert.equal(parseResponse(whole.subarray(0, 40)), undefined);
    const chunked = Buffer.from("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    assert.deepEqual(parseResponse(chunked), { status: 200, length: chunked.length, close: false });
    assert.equal(parseResponse(chunked.subarray(0, chunked.length - 2)), undefined);
  });
});
