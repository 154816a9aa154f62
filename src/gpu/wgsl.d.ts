// .wgsl files are imported as text (esbuild's text loader, vitest's wgsl-text plugin).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
