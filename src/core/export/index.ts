// Exports that leave the browser as files the Python ecosystem loads as they are: a PEFT adapter, a merged
// (or fully fine-tuned) Hugging Face model, and the scale-out recipe. Each returns path → bytes.
export type { ExportFiles } from './files';
export { exportPeftAdapter, peftAdapterConfig, peftTargetModules, type PeftAdapterConfig, type PeftExportOptions } from './peft';
export { exportMergedModel, exportMergedFromBase, exportFullModel, type MergedExportOptions } from './merged';
export { exportRecipe, pyLiteral, yamlLiteral, type RecipeOptions, type RecipeSequence } from './recipe';
