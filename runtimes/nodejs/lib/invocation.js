'use strict';
// One invocation of Lambda's Node.js programming model, to its single outcome.
//
// A handler answers by returning a promise (async handlers), by calling callback(error,
// result), or through the legacy context.done/succeed/fail. The first answer wins; later
// ones are ignored, as on Lambda. callback() honours context.callbackWaitsForEmptyEventLoop:
// true (the default) holds the response until node's event loop is empty (every timer and
// socket the handler started has finished: node's 'beforeExit'); false sends it at once
// and leaves whatever is pending to run on during the next invocations. A promise, done,
// succeed and fail answer at once. A handler that never answers gets a null response once
// the event loop is empty, and an invocation whose loop never empties runs into its timeout.

/** Node's 'beforeExit' routed to the current invocation's listener, if any. */
class EmptyLoopListener {
  constructor(processObject) {
    this.listener = null;
    processObject.on('beforeExit', () => this.listener?.());
  }

  set(listener) {
    this.listener = listener;
  }

  reset() {
    this.listener = null;
  }
}

function isPromise(value) {
  return value !== null && typeof value === 'object' && typeof value.then === 'function';
}

/**
 * Calls handler(event, context, callback) and resolves with {result} or {error}.
 * @param buildContext (completion) => the context object, given the callback-related members
 */
function invoke(handler, event, buildContext, emptyLoop) {
  return new Promise((resolve) => {
    let answered = false;
    let decided = false;
    let waitsForEmptyEventLoop = true;
    const decide = (outcome) => {
      if (!decided) {
        decided = true;
        emptyLoop.reset();
        resolve(outcome);
      }
    };
    // Only the first of callback, done, succeed and fail counts.
    const firstAnswer =
      (answer) =>
      (...args) => {
        if (!answered) {
          answered = true;
          answer(...args);
        }
      };
    const done = (error, result) =>
      decide(error === undefined || error === null ? { result } : { error });
    const callback = firstAnswer((error, result) => {
      if (error !== undefined && error !== null) {
        decide({ error });
      } else if (waitsForEmptyEventLoop) {
        emptyLoop.set(() => decide({ result }));
      } else {
        decide({ result });
      }
    });
    const context = buildContext({
      get callbackWaitsForEmptyEventLoop() {
        return waitsForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value) {
        waitsForEmptyEventLoop = value;
      },
      done: firstAnswer(done),
      succeed: firstAnswer((result) => done(null, result)),
      fail: firstAnswer((error) => done(error ?? 'handled')),
    });
    emptyLoop.set(() => decide({ result: null }));
    try {
      const returned = handler(event, context, callback);
      if (isPromise(returned)) {
        returned.then(context.succeed, context.fail);
      }
    } catch (error) {
      callback(error);
    }
  });
}

module.exports = { EmptyLoopListener, invoke };
