// Clean edges, step 1: wi, the person weight at half the blur resolution blurred by a Gaussian (separable).
// It tells the confident inside (wi near 1), the confident outside (near 0) and the edge band between.
#include "common.glsl"
uniform sampler2D u_src;      // first pass: the weight at refine resolution; second: the first pass's output
uniform bool u_first;
uniform ivec2 u_size;
uniform ivec2 u_axis;
uniform int u_radius;
uniform float u_kernel[129];
out vec4 o;
void main() {
    ivec2 p = pixel();
    float acc = 0.0;
    for (int k = -u_radius; k <= u_radius; k++) {
        ivec2 q = clamp(p + k * u_axis, ivec2(0), u_size - 1);
        float v = u_first ? sample_at(u_src, q, u_size).r : texelFetch(u_src, q, 0).r;
        acc += u_kernel[k + u_radius] * v;
    }
    o = vec4(acc, 0.0, 0.0, 1.0);
}
