// A BGR frame uploaded as its raw bytes (an R8 texture three times as wide: a plain copy for the driver, where
// a GL_BGR upload into an RGB texture is a per-pixel conversion on the CPU), unpacked into an RGBA8 target.
#include "common.glsl"
uniform sampler2D u_bytes;
out vec4 o;
void main() {
    ivec2 p = pixel();
    int x = 3 * p.x;
    o = vec4(texelFetch(u_bytes, ivec2(x + 2, p.y), 0).r, texelFetch(u_bytes, ivec2(x + 1, p.y), 0).r,
             texelFetch(u_bytes, ivec2(x, p.y), 0).r, 1.0);
}
