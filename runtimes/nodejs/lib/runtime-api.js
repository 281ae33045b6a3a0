'use strict';
// The client side of Lambda's Runtime API (AWS_LAMBDA_RUNTIME_API, version 2018-06-01):
// take the next event, post its response or error, report an init failure.

const http = require('node:http');

const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const PREFIX = '/2018-06-01/runtime';

class RuntimeApiClient {
  /** @param {string} address host:port, as AWS_LAMBDA_RUNTIME_API gives it */
  constructor(address) {
    const separator = address.lastIndexOf(':');
    this.hostname = address.slice(0, separator);
    this.port = Number(address.slice(separator + 1));
    // One kept-alive connection: an idle kept-alive socket is unref'ed by node, so it never
    // holds the event loop open (callbackWaitsForEmptyEventLoop depends on that).
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  /** The next event: {headers (lower-case names), body (string)}; long-polls, no timeout. */
  async nextInvocation() {
    const { status, headers, body } = await this.request('GET', `${PREFIX}/invocation/next`);
    if (status !== 200) {
      throw new Error(`Runtime API answered ${status} to /invocation/next: ${body}`);
    }
    return { headers, body };
  }

  postResponse(requestId, body) {
    return this.post(`${PREFIX}/invocation/${encodeURIComponent(requestId)}/response`, body);
  }

  postError(requestId, document) {
    return this.post(
      `${PREFIX}/invocation/${encodeURIComponent(requestId)}/error`,
      JSON.stringify(document),
      errorTypeHeader(document),
    );
  }

  postInitError(document) {
    return this.post(`${PREFIX}/init/error`, JSON.stringify(document), errorTypeHeader(document));
  }

  async post(path, body, headers = {}) {
    const { status, body: answer } = await this.request('POST', path, body, {
      'Content-Type': 'application/json',
      ...headers,
    });
    if (status >= 300) {
      // Lambda's runtime gives up on a rejected post (an unknown or finished request id):
      // the platform has no use for a runtime that lost track of its invocation.
      throw new Error(`Runtime API answered ${status} to ${path}: ${answer}`);
    }
  }

  request(method, path, body, headers = {}) {
    return new Promise((resolve, reject) => {
      const outgoing = http.request(
        { method, path, headers, hostname: this.hostname, port: this.port, agent: this.agent },
        (incoming) => {
          const chunks = [];
          incoming.on('data', (chunk) => chunks.push(chunk));
          incoming.on('error', reject);
          incoming.on('end', () =>
            resolve({
              status: incoming.statusCode,
              headers: incoming.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }
}

/** The error type as a header value: printable ASCII only, else node refuses the header. */
function errorTypeHeader(document) {
  return { [ERROR_TYPE_HEADER]: String(document.errorType).replace(/[^\x20-\x7e]/g, '?') };
}

module.exports = { RuntimeApiClient, ERROR_TYPE_HEADER };
