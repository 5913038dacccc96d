// Element-wise attention heads on GPU-shaped devices: the head batchnorm's moments (count, sum and M2 = Σ (R − mean)²)
// and, for planes too large for the plane kernels (where the per-row kernels store Ox and Oy and sum R and R²), the
// kernels that turn the stored softmaxes into the same moments the plane kernels make, so that every GPU path takes
// its variance from deviations instead of E[R²] − E[R]² (which loses every digit in float once R's spread is small
// against its mean):
//
//   LineMoments   a thread per column (columns = 1) or per row of every plane: Σ R and M2 of the line, from the stored
//                 Ox and Oy, into ColR or RowR (fixed order along the line).
//   PlaneMoments  a thread per plane: its columns' moments merged in column order (Chan's formula) into the batchnorm's
//                 per-image partial sums [Q, N, 2].
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static partial class GpuHeadPlaneKernels
{
    /// <summary>Count, sum and M2 (Σ (v − mean)²) of a set of values.</summary>
    public readonly struct Moments
    {
        public Moments(float count, float sum, float m2)
        {
            Count = count;
            Sum = sum;
            M2 = m2;
        }

        public readonly float Count;
        public readonly float Sum;
        public readonly float M2;

        /// <summary>The moments of both sets (Chan et al.'s pairwise formula: the M2s plus the means' squared difference
        /// weighted by nA·nB/(nA + nB)).</summary>
        public Moments Merge(Moments b)
        {
            if (b.Count == 0f)
                return this;
            if (Count == 0f)
                return b;
            float n = Count + b.Count;
            float delta = b.Sum / b.Count - Sum / Count;
            return new Moments(n, Sum + b.Sum, M2 + b.M2 + delta * delta * (Count * b.Count / n));
        }
    }

    /// <summary>See the file header. Thread e of N·Q·W (columns = 1) or N·Q·H lines.</summary>
    public static void LineMoments(Index1D e, ArrayView<float> aux, ArrayView<float> oxy, HeadDims d, HeadAux a, int columns)
    {
        int lines = columns != 0 ? d.W : d.H;
        int plane = e / lines;
        int line = e - plane * lines;
        int first = plane * d.Plane + (columns != 0 ? line : line * d.W);
        int step = columns != 0 ? d.W : 1;
        int length = columns != 0 ? d.H : d.W;
        float sum = 0f;
        for (int k = 0, o = first; k < length; k++, o += step)
            sum += oxy[o] * oxy[d.Size + o];
        float mean = sum / length;
        float m2 = 0f;
        for (int k = 0, o = first; k < length; k++, o += step)
        {
            float dev = oxy[o] * oxy[d.Size + o] - mean;
            m2 += dev * dev;
        }
        int target = (columns != 0 ? a.ColR : a.RowR) + 2 * e;
        aux[target] = sum;
        aux[target + 1] = m2;
    }

    /// <summary>See the file header. Thread per plane (n, q) of N·Q.</summary>
    public static void PlaneMoments(Index1D plane, ArrayView<float> partial, ArrayView<float> aux, HeadDims d, HeadAux a)
    {
        var total = new Moments(0f, 0f, 0f);
        int c0 = a.ColR + 2 * plane * d.W;
        for (int j = 0; j < d.W; j++)
            total = total.Merge(new Moments(d.H, aux[c0 + 2 * j], aux[c0 + 2 * j + 1]));
        int pi = d.PartialIndex(plane);
        partial[pi] = total.Sum;
        partial[pi + 1] = total.M2;
    }
}
