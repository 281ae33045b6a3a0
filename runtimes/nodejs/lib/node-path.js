'use strict';
// NODE_PATH for import as well as require (see node-path-hooks.mjs).

const nodeModule = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

/** Registers the hooks when NODE_PATH names a directory; true if they are in place. */
function registerNodePathForImport(nodePath) {
  const directories = (nodePath ?? '').split(path.delimiter).filter((entry) => path.isAbsolute(entry));
  // module.register arrived in node 20.6; without it, import keeps node's plain resolution.
  if (directories.length === 0 || typeof nodeModule.register !== 'function') {
    return false;
  }
  nodeModule.register('./node-path-hooks.mjs', pathToFileURL(__filename), {
    data: { directories },
  });
  return true;
}

module.exports = { registerNodePathForImport };
