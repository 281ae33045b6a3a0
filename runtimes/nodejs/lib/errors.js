'use strict';
// Lambda's error vocabulary and the error document the Runtime API carries: the same
// fields and `Runtime.*` names as Lambda's Node.js runtime, so callers (and their
// `FunctionError` handling) see what they would see on Lambda.

const util = require('node:util');

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class UnhandledPromiseRejection extends Error {}

// Lambda's names: `errorType` and the error-type header carry `Runtime.<class name>`.
for (const type of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  UnhandledPromiseRejection,
]) {
  type.prototype.name = `Runtime.${type.name}`;
}

function looksLikeError(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof value.name === 'string' &&
    typeof value.message === 'string' &&
    typeof value.stack === 'string'
  );
}

/** What Lambda returns for a failed invocation: {errorType, errorMessage, trace}. */
function errorDocument(error) {
  try {
    if (util.types.isNativeError(error) || looksLikeError(error)) {
      return {
        errorType: error.name,
        errorMessage: error.message,
        trace: String(error.stack).split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    // A getter that throws, a Proxy: Lambda answers with this fixed document.
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
      trace: [],
    };
  }
}

function intoError(value) {
  return value instanceof Error ? value : new Error(value);
}

/** An error as Lambda's text log shows it: a tab, then JSON with the usual own fields. */
function formattedForLog(error) {
  const withFields = (_key, value) => {
    if (!(value instanceof Error)) {
      return value;
    }
    const fields = { errorType: value.name, errorMessage: value.message, code: value.code };
    Object.assign(fields, value);
    if (typeof value.stack === 'string') {
      fields.stack = value.stack.split('\n');
    }
    return fields;
  };
  try {
    return '\t' + JSON.stringify(error, withFields);
  } catch {
    return '\t' + JSON.stringify(errorDocument(error));
  }
}

module.exports = {
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  UnhandledPromiseRejection,
  errorDocument,
  intoError,
  formattedForLog,
};
