// Clean edges, the band: the person weight at blur resolution blurred by a narrow Gaussian (separable); the
// second pass turns it into edge = clamp(FG_EDGE_GAIN ws (1 - ws)), 0 under FG_EDGE_MIN.
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
    if (u_first) { o = vec4(acc, 0.0, 0.0, 1.0); return; }
    float edge = clamp(FG_EDGE_GAIN * acc * (1.0 - acc), 0.0, 1.0);
    o = vec4(edge < FG_EDGE_MIN ? 0.0 : edge, 0.0, 0.0, 1.0);
}
