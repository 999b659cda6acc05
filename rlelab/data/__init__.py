"""The synthetic data sets whose truth is known: SynthPose (drawn people in COCO's or MPII's layout) and Synth3D
(people posed in 3-D and filmed, in Human3.6M's forms)."""
