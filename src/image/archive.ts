/**
 * `save` / `load` of images as Docker's docker-archive plus an OCI image
 * layout in one tar (what `docker save` writes since Docker 25), and loading
 * of older docker-archives, skopeo's and plain OCI layout tars.
 */
export { saveImages } from './archive/save';
export { loadImages, type LoadOptions } from './archive/load';
