// Module resolution hooks (node's module.register) that give import the NODE_PATH lookup
// require has. Node never consults NODE_PATH for ES modules; Lambda's Node.js runtimes do
// (since Node.js 18), which is how `import` finds packages of layers (/opt/nodejs/node_modules)
// and of the runtime (/var/runtime/node_modules). A bare specifier node cannot resolve is
// tried against each NODE_PATH directory in order:
// - a directory named node_modules: node's own ES module resolution, as if the importing
//   module sat beside it, so "exports" and the "import" condition apply;
// - any other directory: require's resolution of <directory>/<specifier> (CommonJS rules).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

let directories = [];

export function initialize(data) {
  directories = data.directories;
}

function packageNameOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

// Relative and absolute paths, URLs (node:, file:, data:) and #imports are not bare.
function isBare(specifier) {
  return !/^[./#]/.test(specifier) && !specifier.includes(':');
}

async function resolveFrom(directory, specifier, context, nextResolve) {
  if (path.basename(directory) === 'node_modules') {
    const beside = pathToFileURL(path.join(path.dirname(directory), 'importer.mjs')).href;
    return nextResolve(specifier, { ...context, parentURL: beside });
  }
  const file = createRequire(path.join(directory, 'importer.js')).resolve(
    path.join(directory, specifier),
  );
  return { url: pathToFileURL(file).href, shortCircuit: true };
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier)) {
      throw error;
    }
    const name = packageNameOf(specifier);
    for (const directory of directories) {
      if (existsSync(path.join(directory, name))) {
        return resolveFrom(directory, specifier, context, nextResolve);
      }
    }
    throw error;
  }
}
