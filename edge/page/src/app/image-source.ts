/**
 * Where the page's input image comes from: a dropped file, a picked file, or a bundled sample
 * (public/samples/, fetched from the page's own origin). Whatever the visitor gives is passed on
 * as it is; the API says what is wrong with a file that is not an image.
 */
import { acceptDroppedFile } from '../shared/drop-target.ts';

export interface ChosenImage {
  readonly image: Blob;
  /** For captions and download names. */
  readonly name: string;
  /** A sample knows its domain, so the direction that translates it. */
  readonly direction?: string;
}

export function watchImageSources(
  elements: { dropZone: HTMLElement; fileInput: HTMLInputElement; samples: HTMLElement },
  onImage: (chosen: ChosenImage) => void,
  onError: (message: string) => void,
): void {
  const { dropZone, fileInput, samples } = elements;
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    if (file !== undefined) onImage({ image: file, name: file.name });
    fileInput.value = ''; // picking the same file again is a new choice
  });
  acceptDroppedFile(dropZone, dropZone, (file) => onImage({ image: file, name: file.name }));
  samples.addEventListener('click', (event) => {
    const button = (event.target as Element).closest<HTMLButtonElement>('button[data-sample]');
    const path = button?.dataset['sample'];
    const direction = button?.dataset['direction'];
    if (path === undefined) return;
    fetch(path)
      .then(async (response) => {
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const name = path.split('/').at(-1)!;
        onImage({ image: await response.blob(), name, ...(direction === undefined ? {} : { direction }) });
      })
      .catch((error: unknown) => onError(`Could not load the sample ${path}: ${String(error)}`));
  });
}
