'use strict';
// Lambda's Node.js context object, built per invocation from the /next headers and the
// function's environment. The callback-related members (callbackWaitsForEmptyEventLoop,
// done, succeed, fail) come from the invocation's completion (see invocation.js).

const HEADER = {
  requestId: 'lambda-runtime-aws-request-id',
  deadlineMs: 'lambda-runtime-deadline-ms',
  functionArn: 'lambda-runtime-invoked-function-arn',
  traceId: 'lambda-runtime-trace-id',
  clientContext: 'lambda-runtime-client-context',
  cognitoIdentity: 'lambda-runtime-cognito-identity',
  tenantId: 'lambda-runtime-aws-tenant-id',
};

function requestIdOf(headers) {
  const requestId = headers[HEADER.requestId];
  if (!requestId) {
    throw new Error('the Runtime API sent an invocation without Lambda-Runtime-Aws-Request-Id');
  }
  return requestId;
}

/**
 * @param {Record<string, string>} headers the /next response headers, lower-case names
 * @param {NodeJS.ProcessEnv} environ
 * @param {object} completion callbackWaitsForEmptyEventLoop accessors and done/succeed/fail
 */
function buildContext(headers, environ, completion) {
  const deadline = Number(headers[HEADER.deadlineMs]);
  return Object.assign(completion, {
    awsRequestId: requestIdOf(headers),
    invokedFunctionArn: headers[HEADER.functionArn],
    functionName: environ.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: environ.AWS_LAMBDA_FUNCTION_VERSION,
    // A string, as on Lambda.
    memoryLimitInMB: environ.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: environ.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: environ.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJsonHeader(headers, HEADER.clientContext),
    identity: parseJsonHeader(headers, HEADER.cognitoIdentity),
    tenantId: headers[HEADER.tenantId],
    // Not floored at zero, as on Lambda: past the deadline it goes negative.
    getRemainingTimeInMillis: () => deadline - Date.now(),
  });
}

/** X-Ray's variable follows the invocation: set from its header, removed when it has none. */
function forwardTraceId(headers, environ) {
  const traceId = headers[HEADER.traceId];
  if (traceId) {
    environ._X_AMZN_TRACE_ID = traceId;
  } else {
    delete environ._X_AMZN_TRACE_ID;
  }
}

function parseJsonHeader(headers, name) {
  const value = headers[name];
  if (value === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new Error(`Cannot parse ${name} as json: ${error}`);
  }
}

module.exports = { buildContext, forwardTraceId, requestIdOf };
