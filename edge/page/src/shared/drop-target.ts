/**
 * Dropping a file on an element, for the page's drop zone and the widget alike: `highlight` wears
 * the class "dragging" while something hovers, and the first dropped file is handed on.
 */
export function acceptDroppedFile(target: HTMLElement, highlight: Element, onFile: (file: File) => void): void {
  target.addEventListener('dragover', (event) => {
    event.preventDefault(); // without it the browser opens the file instead of dropping it here
    highlight.classList.add('dragging');
  });
  target.addEventListener('dragleave', () => highlight.classList.remove('dragging'));
  target.addEventListener('drop', (event) => {
    event.preventDefault();
    highlight.classList.remove('dragging');
    const file = event.dataTransfer?.files[0];
    if (file !== undefined) onFile(file);
  });
}
