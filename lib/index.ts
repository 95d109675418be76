/**
 * synthtune: adapt embedding models to your domain without labels.
 *
 * Public API, one section per pipeline stage.
 */
export * from './kernels';
