"""infogan's speed tooling, beside the library (installed as the package infogan_benchmarks):

  bench.py            `infogan bench`: the real step against the textbook loop, each in its
                      own process (LoopProcess), with the kernel floor and batch scaling
  reference_loop.py   the textbook PyTorch InfoGAN loop the bench compares against
  floor.py            the kernel floor: a step's products and optimiser updates, each replayed alone
  time_to_accuracy.py seconds of training until the categorical code reaches a test accuracy
  gpu_suite.sh        every GPU check and figure of the README in one run

The library never imports this package; it imports the library.
"""
