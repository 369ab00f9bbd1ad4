// Input of the CoC blur at blur resolution: the grid-sampled frame (rounded to 8 bits like the CPU twin's)
// and, in alpha, the person weight sampled there, so the blur passes read each tap's CoC with one fetch.
#include "common.glsl"
uniform sampler2D u_src;
uniform sampler2D u_weight;
uniform ivec2 u_size;
out vec4 o;
void main() {
    ivec2 p = pixel();
    vec3 c = round(grid_sample(u_src, p, u_size) * 255.0) / 255.0;
    o = vec4(c, sample_at(u_weight, p, u_size).r);
}
