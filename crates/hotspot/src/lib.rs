//! HotSpot JVM dynamic-attach client spoken natively over the attach socket.
