"""Evaluating trained models: metrics, analyses, and loading a finished run.

  metrics     pure metrics: top-k, NLL, ECE (masked batch sums, or whole arrays), `predict`
  analysis    calibration with temperature scaling, occlusion robustness, CAM localization
  inference   a finished run's checkpoint restored for inference on one device
  writers     the train loop's host side: progress, the step meter, metric files
"""
