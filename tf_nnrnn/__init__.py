"""tf_nnrnn: orthogonal and non-normal recurrent cells for Keras 3."""
