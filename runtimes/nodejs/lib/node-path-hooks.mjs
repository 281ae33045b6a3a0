// The NODE_PATH resolve hook for module.register (node 20.6 to 22.14, which run hooks in a
// thread of their own): see node-path-resolution.js.
import resolution from './node-path-resolution.js';

let directories = [];

export function initialize(data) {
  directories = data.directories;
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const target = resolution.retryTarget(specifier, error, directories);
    if (target === null) {
      throw error;
    }
    if (target.url !== undefined) {
      return { url: target.url, shortCircuit: true };
    }
    return nextResolve(specifier, { ...context, parentURL: target.parentURL });
  }
}
