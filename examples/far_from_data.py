"""Far from the data: the softmax extrapolates with certainty, the posterior does not.

    python examples/far_from_data.py [--quick]

Two moons, a 2-16-16-2 ReLU network: its softmax point estimate, an SVI posterior and a
NUTS posterior of the same network. Prints each method's mean max-probability on a
circle ten times farther out than any training point, and writes far_from_data.png.
"""

import argparse

from bayesnet.cli.demos import toy_demo

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()

demo = toy_demo(seed=0, quick=args.quick, hmc=True, progress=not args.quick)
for row in demo.rows:
    print(
        f"{row['method']:8s} accuracy {row['accuracy']:.3f}  far-away confidence {row['confidence']:.3f}"
    )
with open("far_from_data.png", "wb") as f:
    f.write(demo.figure)
print("wrote far_from_data.png")
