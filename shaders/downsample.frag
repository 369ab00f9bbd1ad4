// Grid-sampled downscale of an image to the target's size (guide for refinement, blur input, background).
#include "common.glsl"
uniform sampler2D u_src;
uniform ivec2 u_size;
out vec4 o;
void main() {
    o = vec4(grid_sample(u_src, pixel(), u_size), 1.0);
}
