'use strict';
// NODE_PATH for import as well as require (see node-path-resolution.js).

const nodeModule = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { synchronousResolver } = require('./node-path-resolution.js');

/**
 * Puts the NODE_PATH lookup in place for import; returns beforeImport(), to call before the
 * runtime imports the handler's module.
 *
 * Node 22.15 and later run resolve hooks in-thread (module.registerHooks): they are set up at
 * once, for every import of the process. Older nodes only have module.register, whose hooks
 * thread adds some 50 ms to a cold start (as much as node's own start): it is started for
 * handlers that are ES modules only, so on those nodes a CommonJS handler's dynamic import()
 * does not see NODE_PATH (its require does).
 */
function nodePathForImport(nodePath) {
  const directories = (nodePath ?? '').split(path.delimiter).filter((entry) => path.isAbsolute(entry));
  const nothing = () => {};
  if (directories.length === 0) {
    return nothing;
  }
  if (typeof nodeModule.registerHooks === 'function') {
    nodeModule.registerHooks({ resolve: synchronousResolver(directories) });
    return nothing;
  }
  if (typeof nodeModule.register !== 'function') {
    return nothing;
  }
  let registered = false;
  return () => {
    if (!registered) {
      registered = true;
      nodeModule.register('./node-path-hooks.mjs', pathToFileURL(__filename), {
        data: { directories },
      });
    }
  };
}

module.exports = { nodePathForImport };
