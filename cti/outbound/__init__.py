"""R2/R11 calls the engine places to customers: return visits, campaigns and the do-not-call
list (``visits``), and the customers' legs it dials (``customers``)."""
