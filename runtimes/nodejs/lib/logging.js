'use strict';
// console.* as Lambda's Node.js runtime writes it: one line per call on stdout, in Text
// (`<ISO time>\t<request id>\t<LEVEL>\t<message>`) or JSON (AWS_LAMBDA_LOG_FORMAT=JSON)
// form, filtered by AWS_LAMBDA_LOG_LEVEL. Newlines inside a message become carriage
// returns so that one call stays one log event.

const util = require('node:util');
const { formattedForLog, intoError } = require('./errors.js');

const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
});

/** The request id (and tenant id) the log lines carry: the invocation being served. */
class LogContext {
  constructor() {
    // Lambda's Node runtime prints `undefined` for lines written during init.
    this.requestId = undefined;
    this.tenantId = undefined;
  }
}

function logSettings(environ) {
  const json = environ.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
  const minimum = LEVELS[environ.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? LEVELS.TRACE;
  return { json, minimum };
}

function textLine(time, logContext, level, message, params) {
  return `${time}\t${logContext.requestId}\t${level.name}\t${util.format(message, ...params)}`;
}

// Errors given as the only argument keep their type, message and stack as JSON fields.
function errorFields(_key, value) {
  if (!(value instanceof Error)) {
    return value;
  }
  return Object.assign(
    {
      errorType: value?.constructor?.name ?? 'UnknownError',
      errorMessage: value.message,
      stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
    },
    value,
  );
}

function jsonLine(time, logContext, level, message, params) {
  const record = { timestamp: time, level: level.name, requestId: logContext.requestId };
  if (logContext.tenantId !== undefined) {
    record.tenantId = logContext.tenantId;
  }
  if (params.length === 0) {
    record.message = message;
    try {
      return JSON.stringify(record, errorFields);
    } catch {
      // A circular object or a BigInt: logged as util.format shows it.
      record.message = util.format(message);
      return JSON.stringify(record);
    }
  }
  record.message = util.format(message, ...params);
  const error = params.find((param) => param instanceof Error);
  if (error !== undefined) {
    record.errorType = error?.constructor?.name ?? 'UnknownError';
    record.errorMessage = error.message;
    record.stackTrace = typeof error.stack === 'string' ? error.stack.split('\n') : [];
  }
  return JSON.stringify(record);
}

/**
 * Replace the console's level methods. Returns logError(label, error), which writes an
 * error the way the runtime reports one (`Invoke Error`, `Uncaught Exception`, ...).
 */
function patchConsole(target, write, settings, logContext) {
  const format = settings.json ? jsonLine : textLine;
  const emitterOf = (level) => {
    if (level.priority < settings.minimum.priority) {
      return () => {};
    }
    return (message, ...params) => {
      const line = format(new Date().toISOString(), logContext, level, message, params);
      write(line.replace(/\n/g, '\r') + '\n');
    };
  };
  target.trace = emitterOf(LEVELS.TRACE);
  target.debug = emitterOf(LEVELS.DEBUG);
  target.info = emitterOf(LEVELS.INFO);
  target.log = target.info;
  target.warn = emitterOf(LEVELS.WARN);
  target.error = emitterOf(LEVELS.ERROR);
  // FATAL is never filtered out, as on Lambda.
  target.fatal = emitterOf({ ...LEVELS.FATAL, priority: Infinity });
  if (settings.json) {
    return (_label, error) => target.error(intoError(error));
  }
  return (label, error) => target.error(label, formattedForLog(intoError(error)));
}

module.exports = { LEVELS, LogContext, logSettings, patchConsole };
