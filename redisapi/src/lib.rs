//! redisapi
