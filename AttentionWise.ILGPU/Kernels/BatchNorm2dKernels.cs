// Batch normalisation over NCHW (statistics per channel over N·H·W), as PyTorch's BatchNorm2d.
//
//   x, y, gy, gx: [N, C, S]      S = H·W; thread p handles plane p = n·C + c (S contiguous elements)
//   mean, var:    [C]            batch statistics (biased variance), from ChannelReductions.MeanVariance
//   gamma, beta:  [C]            affine weight and bias (unused when affine = 0)
//   runMean, runVar: [C]         running statistics (updated in training, used in evaluation)
//   coef:         [4, C]         per-channel coefficients of the current pass:
//                                  forward:  coef[0] = scale = γ·invstd, coef[1] = shift = β − mean·scale,
//                                            coef[2] = mean used, coef[3] = invstd used
//                                  backward: coef[0] = a, coef[1] = b, coef[2] = mean of gy, coef[3] = mean used
//                                            with gx = a·(gy − coef[2]) + b·(x − coef[3])
//
// Forward y = x·scale + shift. Backward (training): gx = γ·invstd·(gy − mean(gy) − x̂·mean(gy·x̂)) with
// x̂ = (x − mean)·invstd; in evaluation the statistics are constants and gx = γ·invstd·gy.
// dγ += Σ gy·x̂ = invstd·Σ gy·(x − mean); dβ += Σ gy.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace AttentionWise.Kernels;

internal static class BatchNorm2dKernels
{
    /// <summary>Thread c: forward coefficients from the batch (training = 1: mean/var given, running statistics
    /// updated with <paramref name="momentum"/> and the unbiased variance var·unbias) or from the running statistics
    /// (training = 0), finalised by <see cref="BatchNormStatistics.Finalize"/>.</summary>
    public static void Prepare<TView>(Index1D c, ArrayView<float> coefView, ArrayView<float> runMeanView, ArrayView<float> runVarView,
        ArrayView<float> meanView, ArrayView<float> varianceView, ArrayView<float> gammaView, ArrayView<float> betaView,
        int channels, int affine, int training, float momentum, float eps, float unbias)
        where TView : struct, IKernelView<TView>
    {
        var coef = TView.Of(coefView);
        var runMean = TView.Of(runMeanView);
        var runVar = TView.Of(runVarView);
        var mean = TView.Of(meanView);
        var variance = TView.Of(varianceView);
        var gamma = TView.Of(gammaView);
        var beta = TView.Of(betaView);
        float batchMean = 0f, batchVariance = 0f;
        if (training != 0)
        {
            batchMean = mean[c];
            batchVariance = variance[c];
        }
        var stats = BatchNormStatistics.Finalize(runMean, runVar, c, training, batchMean, batchVariance, unbias, momentum, eps);
        float mu = stats.Mean;
        float invstd = stats.InvStd;
        float g = affine != 0 ? gamma[c] : 1f;
        float b = affine != 0 ? beta[c] : 0f;
        float scale = g * invstd;
        coef[c] = scale;
        coef[channels + c] = b - mu * scale;
        coef[2 * channels + c] = mu;
        coef[3 * channels + c] = invstd;
    }

    /// <summary>Thread p (plane n·C + c): y = x·coef[0, c] + coef[1, c].</summary>
    public static void Normalize<TView>(Index1D p, ArrayView<float> yView, ArrayView<float> xView, ArrayView<float> coefView, int channels, int spatial)
        where TView : struct, IKernelView<TView>
    {
        var y = TView.Of(yView);
        var x = TView.Of(xView);
        var coef = TView.Of(coefView);
        int c = p % channels;
        float scale = coef[c];
        float shift = coef[channels + c];
        int start = p * spatial;
        int end = start + spatial;
        for (int e = start; e < end; e++)
            y[e] = x[e] * scale + shift;
    }

    /// <summary>Thread c: backward coefficients from Σ gy and Σ gy·(x − mean) (see the header); adds the affine
    /// gradients dγ += invstd·Σ gy·(x − mean) and dβ += Σ gy. <paramref name="fwdCoefView"/> is the forward pass's coef.</summary>
    public static void PrepareBackward<TView>(Index1D c, ArrayView<float> coefView, ArrayView<float> gradGammaView, ArrayView<float> gradBetaView,
        ArrayView<float> fwdCoefView, ArrayView<float> sumGView, ArrayView<float> sumGxView, ArrayView<float> gammaView,
        int channels, int affine, int training, float count)
        where TView : struct, IKernelView<TView>
    {
        var coef = TView.Of(coefView);
        var gradGamma = TView.Of(gradGammaView);
        var gradBeta = TView.Of(gradBetaView);
        var fwdCoef = TView.Of(fwdCoefView);
        var sumG = TView.Of(sumGView);
        var sumGx = TView.Of(sumGxView);
        var gamma = TView.Of(gammaView);
        float mu = fwdCoef[2 * channels + c];
        float invstd = fwdCoef[3 * channels + c];
        float sg = sumG[c];
        float sgx = sumGx[c];
        float g = affine != 0 ? gamma[c] : 1f;
        if (affine != 0)
        {
            gradGamma[c] += sgx * invstd;
            gradBeta[c] += sg;
        }
        float a = g * invstd;
        if (training != 0)
        {
            coef[c] = a;
            coef[channels + c] = -a * invstd * invstd * sgx / count;
            coef[2 * channels + c] = sg / count;
        }
        else
        {
            coef[c] = a;
            coef[channels + c] = 0f;
            coef[2 * channels + c] = 0f;
        }
        coef[3 * channels + c] = mu;
    }

    /// <summary>Thread p (plane n·C + c): gx = a·(gy − mgy) + b·(x − mean) with the coefficients of PrepareBackward.</summary>
    public static void BackwardInput<TView>(Index1D p, ArrayView<float> gxView, ArrayView<float> gyView, ArrayView<float> xView, ArrayView<float> coefView, int channels, int spatial)
        where TView : struct, IKernelView<TView>
    {
        var gx = TView.Of(gxView);
        var gy = TView.Of(gyView);
        var x = TView.Of(xView);
        var coef = TView.Of(coefView);
        int c = p % channels;
        float a = coef[c];
        float b = coef[channels + c];
        float mg = coef[2 * channels + c];
        float mu = coef[3 * channels + c];
        int start = p * spatial;
        int end = start + spatial;
        for (int e = start; e < end; e++)
            gx[e] = a * (gy[e] - mg) + b * (x[e] - mu);
    }
}

/// <summary>The batchnorm kernels, closed with a family's kernel view.</summary>
internal sealed class BatchNorm2dKernelSet<TView> : IKernelSet<BatchNorm2dKernelSet<TView>>
    where TView : struct, IKernelView<TView>
{
    private BatchNorm2dKernelSet(KernelLoader loader)
    {
        Prepare = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int, int, float, float, float>(BatchNorm2dKernels.Prepare<TView>);
        Normalize = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(BatchNorm2dKernels.Normalize<TView>);
        PrepareBackward = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int, int, float>(BatchNorm2dKernels.PrepareBackward<TView>);
        BackwardInput = loader.Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
            BatchNorm2dKernels.BackwardInput<TView>);
    }

    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, float, float> Prepare { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> Normalize { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float> PrepareBackward { get; }
    public Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> BackwardInput { get; }

    public static BatchNorm2dKernelSet<TView> Load(KernelLoader loader) => new(loader);
}
