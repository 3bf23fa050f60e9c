//! Load balancers: which backend serves the next request.
