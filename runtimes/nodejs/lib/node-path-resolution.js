'use strict';
// Where import looks for a package node's own resolution did not find: NODE_PATH, as require
// does. Node never consults NODE_PATH for ES modules; Lambda's Node.js runtimes do (since
// Node.js 18), which is how `import` finds the packages of layers (/opt/nodejs/node_modules)
// and of the runtime (/var/runtime/node_modules). A bare specifier is tried against each
// NODE_PATH directory holding its package, in order:
// - a directory named node_modules: node's own ES module resolution, as if the importing
//   module sat beside that directory, so "exports" and the "import" condition apply;
// - any other directory: require's resolution of <directory>/<specifier> (CommonJS rules).

const fs = require('node:fs');
const { createRequire } = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

function packageNameOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

// Relative and absolute paths, URLs (node:, file:, data:) and #imports are not bare.
function isBare(specifier) {
  return !/^[./#]/.test(specifier) && !specifier.includes(':');
}

/**
 * What to try after node failed to resolve `specifier` with `error`: {parentURL} to resolve
 * again from, or {url} resolved already; null when NODE_PATH has nothing for it.
 */
function retryTarget(specifier, error, directories) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier)) {
    return null;
  }
  const name = packageNameOf(specifier);
  const directory = directories.find((entry) => fs.existsSync(path.join(entry, name)));
  if (directory === undefined) {
    return null;
  }
  if (path.basename(directory) === 'node_modules') {
    return { parentURL: pathToFileURL(path.join(path.dirname(directory), 'importer.mjs')).href };
  }
  const file = createRequire(path.join(directory, 'importer.js')).resolve(
    path.join(directory, specifier),
  );
  return { url: pathToFileURL(file).href };
}

/** A resolve hook for module.registerHooks (node 22.15 and later): in-thread, synchronous. */
function synchronousResolver(directories) {
  return (specifier, context, nextResolve) => {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      const target = retryTarget(specifier, error, directories);
      if (target === null) {
        throw error;
      }
      if (target.url !== undefined) {
        return { url: target.url, shortCircuit: true };
      }
      return nextResolve(specifier, { ...context, parentURL: target.parentURL });
    }
  };
}

module.exports = { retryTarget, synchronousResolver };
