"""Data of the experiments: TFDS-prepared datasets read with grain, or in-memory arrays.

  registry.py     dataset names, `DatasetInfo` (classes, shape, mean/std), preparation
  pipeline.py     grain train / eval batches (crop + flip), split arrays
  image_files.py  image archives and folders decoded to arrays (no TFDS needed)
  shapes.py       the shapes generator (NumPy only: the GPU plans draw their images with it)
  datasets/       the TFDS builders (shapes, Fashion-MNIST IDX, image folders)
"""
