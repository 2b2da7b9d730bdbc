"""The evaluation wing: what a trained (or random) network is worth.

- :mod:`~vcop_lab.evaluate.inference`: the one inference loop every evaluation runs through;
- :mod:`~vcop_lab.evaluate.order`: order accuracy over every permutation, per class (Table I,
  Fig. 5) and the permutation confusion;
- :mod:`~vcop_lab.evaluate.action`: action recognition scores at clip and video level
  (Table V);
- :mod:`~vcop_lab.evaluate.features`: frozen-backbone clip features, pooled per stage and
  cached (retrieval, VideoQA);
- :mod:`~vcop_lab.evaluate.search`: nearest-neighbour search over feature matrices, pure
  tensor code;
- :mod:`~vcop_lab.evaluate.retrieval`: the retrieval protocol of Tables II-IV on data folders
  (within and across datasets, layer-wise) and its examples;
- :mod:`~vcop_lab.evaluate.feature_map`: a seeded 2-D map (t-SNE) of video-level features,
  with class separation, k-NN class and look agreement beside chance, and trustworthiness;
- :mod:`~vcop_lab.evaluate.order_game`: the learner against the order network, round by
  round (notebook 03's game, played headless by a scripted learner);
- :mod:`~vcop_lab.evaluate.saliency`: where a network looks (Grad-CAM on a backbone stage)
  and how much of it falls on the moving object of a synthetic video.
"""
