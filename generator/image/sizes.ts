// Per-layer sizes of an image archive, as `plan --archive` shows them: what a push would upload
// (compressed, estimated the way push checks imageSizeBudgetMB) and how that compares to the budget.
import { formatBytes, MB } from "../registry/format.ts";
import { estimateCompressedLayerSizes, openArchive } from "./archive.ts";

export interface LayerSize {
  /** sha256:... of the uncompressed layer (the config's diff_id), else its path in the archive. */
  id: string;
  /** Bytes in the archive (uncompressed unless the archive stores it compressed). */
  sizeBytes: number;
  /** Estimated bytes a push uploads for it (gzip). */
  compressedBytes: number;
}

export interface ImageSizes {
  architecture: string;
  layers: LayerSize[];
  compressedBytes: number;
  budgetMB: number | undefined;
  /** undefined when the service sets no imageSizeBudgetMB. */
  withinBudget: boolean | undefined;
}

export async function imageSizes(archivePath: string, budgetMB: number | undefined): Promise<ImageSizes> {
  const opened = await openArchive(archivePath);
  try {
    const { archive } = opened;
    const compressed = await estimateCompressedLayerSizes(archive);
    const layers = archive.layers.map((l, i) => ({ id: l.diffId ?? l.path, sizeBytes: l.size, compressedBytes: compressed[i] }));
    const total = compressed.reduce((a, b) => a + b, 0);
    return {
      architecture: archive.architecture,
      layers,
      compressedBytes: total,
      budgetMB,
      withinBudget: budgetMB === undefined ? undefined : total <= budgetMB * MB,
    };
  } finally {
    opened.dispose();
  }
}

export function formatImageSizes(s: ImageSizes): string[] {
  const budget =
    s.budgetMB === undefined
      ? "no imageSizeBudgetMB set"
      : `${s.withinBudget ? "within" : "OVER"} imageSizeBudgetMB ${s.budgetMB}${s.withinBudget ? "" : ": push will refuse it"}`;
  const lines = [`image size: about ${formatBytes(s.compressedBytes)} compressed in ${s.layers.length} layers (${budget})`];
  s.layers.forEach((l, i) => {
    const id = l.id.startsWith("sha256:") ? l.id.slice(0, 19) : l.id;
    lines.push(`  layer ${String(i + 1).padStart(2)}  ${formatBytes(l.compressedBytes).padStart(9)} compressed  ${formatBytes(l.sizeBytes).padStart(9)} in archive  ${id}`);
  });
  return lines;
}
