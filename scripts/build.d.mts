/** Repository root. */
export declare const root: string;
/** The bundle directory. */
export declare const dist: string;
/** True when dist/ is missing or older than some source file. */
export declare function stale(): boolean;
/** Bundle the command line, its worker and the benchmark into dist/. */
export declare function build(): Promise<void>;
