'use strict';
// The faas Node.js runtime: Lambda's Node.js programming model over the Lambda Runtime API.
//
// Started as `node bootstrap.js` inside the function's sandbox with Lambda's environment
// (AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT, NODE_PATH, AWS_LAMBDA_FUNCTION_*,
// AWS_LAMBDA_LOG_*). Plain node, no dependencies. Shape of Lambda's runtime interface client:
// init once (a failure goes to /runtime/init/error, then exit 1), then next -> invoke ->
// response or error, one invocation at a time, forever.

const { buildContext, forwardTraceId, requestIdOf } = require('./lib/context.js');
const { errorDocument, UnhandledPromiseRejection } = require('./lib/errors.js');
const { loadHandler } = require('./lib/handler-loader.js');
const { EmptyLoopListener, invoke } = require('./lib/invocation.js');
const { LogContext, logSettings, patchConsole } = require('./lib/logging.js');
const { nodePathForImport } = require('./lib/node-path.js');
const { RuntimeApiClient } = require('./lib/runtime-api.js');

// Exit statuses of Lambda's Node.js runtime after an invocation's uncaught exception or
// unhandled rejection (the platform then reports the invocation and starts a new runtime).
const EXIT_UNCAUGHT_EXCEPTION = 129;
const EXIT_UNHANDLED_REJECTION = 128;
const EXIT_INIT_FAILED = 1;

function serializedResult(result) {
  try {
    return { body: JSON.stringify(result === undefined ? null : result) };
  } catch {
    return { error: new Error('Unable to stringify response body') };
  }
}

class Runtime {
  constructor(client, environ, logContext, logError) {
    this.client = client;
    this.environ = environ;
    this.logContext = logContext;
    this.logError = logError;
    this.emptyLoop = new EmptyLoopListener(process);
    // The request id being served; undefined during init.
    this.requestId = undefined;
  }

  /** Loads the handler; on failure reports it to /runtime/init/error and exits. */
  async init() {
    const taskRoot = this.environ.LAMBDA_TASK_ROOT ?? process.cwd();
    const beforeImport = nodePathForImport(this.environ.NODE_PATH);
    try {
      return await loadHandler(taskRoot, this.environ._HANDLER ?? '', beforeImport);
    } catch (error) {
      await this.crash(error, 'Uncaught Exception', EXIT_INIT_FAILED);
    }
  }

  async serveForever(handler) {
    for (;;) {
      const { headers, body } = await this.client.nextInvocation();
      const requestId = requestIdOf(headers);
      this.requestId = requestId;
      this.logContext.requestId = requestId;
      this.logContext.tenantId = headers['lambda-runtime-aws-tenant-id'];
      forwardTraceId(headers, this.environ);
      const outcome = await this.invokeOnce(handler, headers, body);
      await this.report(requestId, outcome);
    }
  }

  async invokeOnce(handler, headers, body) {
    try {
      const event = JSON.parse(body);
      const makeContext = (completion) => buildContext(headers, this.environ, completion);
      const outcome = await invoke(handler, event, makeContext, this.emptyLoop);
      return 'error' in outcome ? outcome : serializedResult(outcome.result);
    } catch (error) {
      return { error };
    }
  }

  async report(requestId, outcome) {
    if ('body' in outcome) {
      await this.client.postResponse(requestId, outcome.body);
      return;
    }
    this.logError('Invoke Error', outcome.error);
    await this.client.postError(requestId, errorDocument(outcome.error));
  }

  /** An error nothing caught: the invocation's error (or init's), then exit. */
  async crash(error, label, status) {
    this.logError(label, error);
    try {
      if (this.requestId === undefined) {
        await this.client.postInitError(errorDocument(error));
      } else {
        await this.client.postError(this.requestId, errorDocument(error));
      }
    } finally {
      process.exit(status);
    }
  }
}

async function main() {
  const environ = process.env;
  const logContext = new LogContext();
  const write = (line) => process.stdout.write(line);
  const logError = patchConsole(console, write, logSettings(environ), logContext);
  if (!environ.AWS_LAMBDA_RUNTIME_API) {
    process.stderr.write('AWS_LAMBDA_RUNTIME_API is not set: nothing to serve\n');
    process.exit(EXIT_INIT_FAILED);
  }
  const runtime = new Runtime(new RuntimeApiClient(environ.AWS_LAMBDA_RUNTIME_API), environ, logContext, logError);
  process.on('uncaughtException', (error) => {
    const status = runtime.requestId === undefined ? EXIT_INIT_FAILED : EXIT_UNCAUGHT_EXCEPTION;
    runtime.crash(error, 'Uncaught Exception', status);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(String(reason));
    error.reason = reason;
    error.promise = promise;
    const status = runtime.requestId === undefined ? EXIT_INIT_FAILED : EXIT_UNHANDLED_REJECTION;
    runtime.crash(error, 'Unhandled Promise Rejection', status);
  });
  const handler = await runtime.init();
  await runtime.serveForever(handler);
}

main().catch((error) => {
  // The Runtime API itself failed (refused, reset, answered an error): nothing to report to.
  process.stderr.write(`faas nodejs runtime: ${error?.stack ?? error}\n`);
  process.exit(EXIT_INIT_FAILED);
});
