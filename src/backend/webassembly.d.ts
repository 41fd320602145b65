/**
 * Not a kernel mirror: the part of the WebAssembly JavaScript API that
 * `wasm.ts` uses. TypeScript ships these types only with the DOM library,
 * which a Node program must not pull in; @types/node declares the namespace
 * without them.
 */
declare global {
  namespace WebAssembly {
    type ImportValue = ((...args: never[]) => unknown) | Memory | number | bigint;
    type ModuleImports = Record<string, ImportValue>;
    type Imports = Record<string, ModuleImports>;
    interface ModuleExportDescriptor {
      readonly name: string;
      readonly kind: 'function' | 'table' | 'memory' | 'global';
    }
    class Module {
      constructor(bytes: Uint8Array);
      static exports(module: Module): ModuleExportDescriptor[];
      static imports(module: Module): (ModuleExportDescriptor & { readonly module: string })[];
    }
    class Instance {
      constructor(module: Module, imports?: Imports);
      readonly exports: Record<string, unknown>;
    }
    class Memory {
      constructor(descriptor: { initial: number; maximum?: number });
      readonly buffer: ArrayBuffer;
      grow(pages: number): number;
    }
    class RuntimeError extends Error {}
    class CompileError extends Error {}
    class LinkError extends Error {}
  }
}

export {};
