// Types of host-fresh.mjs (plain JavaScript, shared with bin/frond.mjs), for host.ts.
export declare const HOST_ENTRY: string;
export declare function hostFresh(root: string): boolean;
export declare function tsFiles(dir: string): string[];
