'use strict';
// _HANDLER (`file.export`, `src/app.handler`, `app.nested.handler`) to a function, resolved
// under LAMBDA_TASK_ROOT the way Lambda's Node.js runtime does it: an extensionless file or a
// CommonJS .js through require; a .js under a package.json with "type": "module", then .mjs,
// through import(); then .cjs; last, node's own resolution from the task root.

const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const {
  HandlerNotFound,
  ImportModuleError,
  MalformedHandlerName,
  UserCodeSyntaxError,
} = require('./errors.js');

const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;

/** {moduleRoot, moduleName, exportPath} of a handler string, or MalformedHandlerName. */
function parseHandler(handler) {
  if (handler.includes('..')) {
    throw new MalformedHandlerName(
      `'${handler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = path.basename(handler);
  const match = base.match(FUNCTION_EXPR);
  if (!match) {
    throw new MalformedHandlerName('Bad handler');
  }
  return {
    moduleRoot: handler.slice(0, handler.length - base.length),
    moduleName: match[1],
    exportPath: match[2],
  };
}

// The nearest package.json up from `folder` decides; a node_modules folder or the root ends
// the search (node's own rule for the "type" field).
function underTypeModule(folder) {
  for (let current = folder; !current.endsWith('/node_modules'); ) {
    const manifest = path.join(current, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, 'utf8'))?.type === 'module';
      } catch (error) {
        console.warn(`${manifest} cannot be read, it will be ignored for ES module detection purposes.`, error);
        return false;
      }
    }
    const parent = path.dirname(current);
    if (parent === current) {
      return false;
    }
    current = parent;
  }
  return false;
}

function requireIfPresent(file) {
  return fs.existsSync(file) ? require(file) : undefined;
}

async function importIfPresent(file, beforeImport) {
  if (!fs.existsSync(file)) {
    return undefined;
  }
  beforeImport();
  return await import(pathToFileURL(file).href);
}

async function loadModule(taskRoot, moduleRoot, moduleName, beforeImport) {
  const base = path.resolve(taskRoot, moduleRoot, moduleName);
  const esm = fs.existsSync(`${base}.js`) && underTypeModule(path.dirname(base));
  const loaded =
    requireIfPresent(base) ??
    (esm ? await importIfPresent(`${base}.js`, beforeImport) : requireIfPresent(`${base}.js`)) ??
    (await importIfPresent(`${base}.mjs`, beforeImport)) ??
    requireIfPresent(`${base}.cjs`);
  if (loaded !== undefined) {
    return loaded;
  }
  // A module name node resolves itself (a package under the task root's node_modules).
  const resolved = require.resolve(moduleName, {
    paths: [taskRoot, path.join(taskRoot, moduleRoot)],
  });
  return require(resolved);
}

/**
 * The handler function, or a Runtime.* error for Lambda's init-failure vocabulary.
 * @param beforeImport called before the handler's module is loaded as an ES module
 */
async function loadHandler(taskRoot, handler, beforeImport = () => {}) {
  const { moduleRoot, moduleName, exportPath } = parseHandler(handler);
  let loaded;
  try {
    loaded = await loadModule(taskRoot, moduleRoot, moduleName, beforeImport);
  } catch (error) {
    if (error instanceof SyntaxError) {
      const wrapped = new UserCodeSyntaxError(String(error));
      wrapped.stack = error.stack;
      throw wrapped;
    }
    if (error?.code === 'MODULE_NOT_FOUND') {
      throw new ImportModuleError(String(error));
    }
    throw error;
  }
  const found = exportPath.split('.').reduce((nested, key) => nested && nested[key], loaded);
  if (!found) {
    throw new HandlerNotFound(`${handler} is undefined or not exported`);
  }
  if (typeof found !== 'function') {
    throw new HandlerNotFound(`${handler} is not a function`);
  }
  return found;
}

module.exports = { loadHandler, parseHandler };
