import type { Runtime } from '@nimbus/api';

/** The platform's runtime images, as the operator set them (the chart's runtime.image values). */
export interface RuntimeImages {
  /** The runtime-node image: node20 functions, and the token init container of every pool pod. */
  runtimeImage: string;
  /** The runtime-python image for python3.11 functions; unset, they are refused (RuntimeNotInstalled). */
  pythonRuntimeImage?: string;
}

/**
 * The platform image that serves a `runtime` function without an image of its own; undefined when
 * this cluster has none for it. A container function always brings its own.
 */
export function runtimeImageOf(runtime: Runtime, images: RuntimeImages): string | undefined {
  switch (runtime) {
    case 'node20':
      return images.runtimeImage;
    case 'python3.11':
      return images.pythonRuntimeImage;
    case 'container':
      return undefined;
  }
}
