// The declarations are in include/CSpawn.h; SwiftPM needs one source file in a C target.
