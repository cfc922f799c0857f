/**
 * Shows translated images as a list: each with its seed and a download link. Owns the object URLs
 * it creates and revokes them when the list is replaced.
 */
import type { TranslatedImage } from '../api/translation-api.ts';

export class OutputGallery {
  #urls: string[] = [];

  constructor(private readonly list: HTMLUListElement) {}

  show(outputs: readonly TranslatedImage[], downloadStem: string): void {
    this.clear();
    for (const output of outputs) {
      const url = URL.createObjectURL(output.image);
      this.#urls.push(url);
      const label = output.seed === null ? 'explicit style' : `seed ${output.seed}`;
      const item = document.createElement('li');
      const image = document.createElement('img');
      image.src = url;
      image.alt = `Translation with ${label}`;
      image.width = 128;
      image.height = 128;
      const caption = document.createElement('span');
      caption.textContent = label;
      const download = document.createElement('a');
      download.href = url;
      download.download = `${downloadStem}-${output.seed ?? 'style'}.${extensionOf(output.image.type)}`;
      download.textContent = 'Download';
      item.append(image, caption, download);
      this.list.append(item);
    }
  }

  clear(): void {
    for (const url of this.#urls) URL.revokeObjectURL(url);
    this.#urls = [];
    this.list.replaceChildren();
  }
}

export function extensionOf(type: string): string {
  return type === 'image/jpeg' ? 'jpg' : (type.split('/')[1] ?? 'png');
}
