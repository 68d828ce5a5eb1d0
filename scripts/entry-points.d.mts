/** Types of entry-points.mjs (the build's list of mains), for the TypeScript tests. */
export declare const ENTRY_POINTS: readonly string[];
export declare function builtPath(source: string, outdir?: string): string;
