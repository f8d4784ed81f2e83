// The AWS SDK for Go v2 against the gateway, with the SDK's defaults: what a second real client
// sends by default (its checksums, its aws-chunked uploads, its multipart manager, its error
// types) must work as on S3. Run by tests/e2e/test_go_sdk.py with the stack's endpoint and
// credentials in the environment; `go test` here needs them too.
package sdk

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

func env(t *testing.T, name string) string {
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set (run through tests/e2e/test_go_sdk.py)", name)
	}
	return v
}

// client is the SDK's default client for the gateway: path style, the stack's region, and the
// SDK's own defaults for everything else (checksums when supported, retries).
func client(t *testing.T) *s3.Client {
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(env(t, "IPFS_S3_REGION")),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
			env(t, "IPFS_S3_ACCESS_KEY"), env(t, "IPFS_S3_SECRET_KEY"), "")),
	)
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(env(t, "IPFS_S3_ENDPOINT"))
		o.UsePathStyle = true
	})
}

func bucket(t *testing.T) string { return env(t, "IPFS_S3_GO_BUCKET") }

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func get(t *testing.T, c *s3.Client, key string) []byte {
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket(t)), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func TestPutWithEveryChecksumTheSDKSends(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	algorithms := []types.ChecksumAlgorithm{"", types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c,
		types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256,
		// The SDK computes SHA512 itself; MD5 and the xxHashes it only names (test_checksums.py
		// sends those with their values).
		types.ChecksumAlgorithmSha512}
	for _, alg := range algorithms {
		name := string(alg)
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			body := random(t, 100*1024+7)
			key := "go/checksum-" + name
			in := &s3.PutObjectInput{Bucket: aws.String(bucket(t)), Key: aws.String(key), Body: bytes.NewReader(body)}
			if alg != "" {
				in.ChecksumAlgorithm = alg
			}
			put, err := c.PutObject(ctx, in)
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			sum := md5.Sum(body)
			if got, want := aws.ToString(put.ETag), `"`+hex.EncodeToString(sum[:])+`"`; got != want {
				t.Fatalf("ETag %s, want %s", got, want)
			}
			if !bytes.Equal(get(t, c, key), body) {
				t.Fatal("the bytes read back differ")
			}
			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket(t)), Key: aws.String(key),
				ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatalf("HeadObject: %v", err)
			}
			stored := map[types.ChecksumAlgorithm]*string{types.ChecksumAlgorithmCrc32: head.ChecksumCRC32,
				types.ChecksumAlgorithmCrc32c: head.ChecksumCRC32C, types.ChecksumAlgorithmCrc64nvme: head.ChecksumCRC64NVME,
				types.ChecksumAlgorithmSha1: head.ChecksumSHA1, types.ChecksumAlgorithmSha256: head.ChecksumSHA256,
				types.ChecksumAlgorithmSha512: head.ChecksumSHA512, types.ChecksumAlgorithmMd5: head.ChecksumMD5,
				types.ChecksumAlgorithmXxhash64: head.ChecksumXXHASH64, types.ChecksumAlgorithmXxhash3: head.ChecksumXXHASH3,
				types.ChecksumAlgorithmXxhash128: head.ChecksumXXHASH128}
			if alg != "" && aws.ToString(stored[alg]) == "" {
				t.Fatalf("HeadObject with ChecksumMode ENABLED has no %s checksum", alg)
			}
		})
	}
}

func TestMultipartThroughTheUploadManager(t *testing.T) {
	c := client(t)
	body := random(t, 12*1024*1024+123)
	up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 * 1024 * 1024 })
	out, err := up.Upload(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket(t)), Key: aws.String("go/multipart"),
		Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if !strings.HasSuffix(strings.Trim(aws.ToString(out.ETag), `"`), "-3") {
		t.Fatalf("ETag %s is not a 3-part ETag", aws.ToString(out.ETag))
	}
	if !strings.HasPrefix(out.Location, "http") {
		t.Fatalf("Location %q is not an absolute URL", out.Location)
	}
	if !bytes.Equal(get(t, c, "go/multipart"), body) {
		t.Fatal("the bytes read back differ")
	}
	attrs, err := c.GetObjectAttributes(context.Background(), &s3.GetObjectAttributesInput{Bucket: aws.String(bucket(t)),
		Key: aws.String("go/multipart"), ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag,
			types.ObjectAttributesObjectParts, types.ObjectAttributesObjectSize, types.ObjectAttributesStorageClass},
		MaxParts: aws.Int32(2)})
	if err != nil {
		t.Fatalf("GetObjectAttributes: %v", err)
	}
	if got := aws.ToString(attrs.ETag); got != strings.Trim(aws.ToString(out.ETag), `"`) {
		t.Fatalf("GetObjectAttributes ETag %q (S3 answers it unquoted)", got)
	}
	if aws.ToInt64(attrs.ObjectSize) != int64(len(body)) || attrs.StorageClass != types.StorageClassStandard {
		t.Fatalf("size %d, storage class %q", aws.ToInt64(attrs.ObjectSize), attrs.StorageClass)
	}
	parts := attrs.ObjectParts
	if aws.ToInt32(parts.TotalPartsCount) != 3 || len(parts.Parts) != 2 || !aws.ToBool(parts.IsTruncated) ||
		aws.ToString(parts.NextPartNumberMarker) != "2" {
		t.Fatalf("parts: total %d, listed %d, truncated %v, next %q", aws.ToInt32(parts.TotalPartsCount), len(parts.Parts),
			aws.ToBool(parts.IsTruncated), aws.ToString(parts.NextPartNumberMarker))
	}
}

func TestListingPagesAndErrorsAreTyped(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket(t)), Key: aws.String(fmt.Sprintf("go/list/%d", i)),
			Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket(t)), Prefix: aws.String("go/list/"),
		MaxKeys: aws.Int32(2)})
	var keys []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if o.StorageClass != types.ObjectStorageClassStandard {
				t.Fatalf("storage class %q", o.StorageClass)
			}
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	if len(keys) != 5 {
		t.Fatalf("listed %v", keys)
	}

	_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket(t)), Key: aws.String("go/missing")})
	var noKey *types.NoSuchKey
	if !errors.As(err, &noKey) {
		t.Fatalf("a missing key: %v, want NoSuchKey", err)
	}
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket(t) + "-missing")})
	var noBucket *types.NoSuchBucket
	if !errors.As(err, &noBucket) {
		t.Fatalf("a missing bucket: %v, want NoSuchBucket", err)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket(t)), Key: aws.String("go/x"), UploadId: aws.String("nope"),
		PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	if code(err) != "NoSuchUpload" {
		t.Fatalf("an unknown upload: %v, want NoSuchUpload", err)
	}
	buckets, err := c.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1)})
	if err != nil || len(buckets.Buckets) != 1 {
		t.Fatalf("ListBuckets with MaxBuckets 1: %v, %d buckets", err, len(buckets.Buckets))
	}
}

func TestAScopeForAnotherRegionIsAuthorizationHeaderMalformed(t *testing.T) {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("eu-west-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(env(t, "IPFS_S3_ACCESS_KEY"), env(t, "IPFS_S3_SECRET_KEY"), "")))
	if err != nil {
		t.Fatal(err)
	}
	other := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(env(t, "IPFS_S3_ENDPOINT"))
		o.UsePathStyle = true
		o.RetryMaxAttempts = 1
	})
	_, err = other.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket(t))})
	if err == nil {
		t.Fatal("a request signed for another region was accepted")
	}
	_, err = other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket(t))})
	if code(err) != "AuthorizationHeaderMalformed" {
		t.Fatalf("signed for eu-west-1: %v, want AuthorizationHeaderMalformed", err)
	}
}

// A FULL_OBJECT CRC32 multipart upload: the SDK sends each part's CRC32, the gateway combines them
// into the CRC32 of the whole object, which Complete checks against the value the client gives.
func TestFullObjectChecksumOfAMultipartUpload(t *testing.T) {
	c, ctx, key := client(t), context.Background(), aws.String("go/full-object")
	parts := [][]byte{random(t, 5*1024*1024), random(t, 777)}
	created, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket(t)), Key: key,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32, ChecksumType: types.ChecksumTypeFullObject})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	if created.ChecksumType != types.ChecksumTypeFullObject || created.ChecksumAlgorithm != types.ChecksumAlgorithmCrc32 {
		t.Fatalf("created with %q %q", created.ChecksumAlgorithm, created.ChecksumType)
	}
	var done []types.CompletedPart
	for i, body := range parts {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket(t)), Key: key, UploadId: created.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(body), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	}
	sum := make([]byte, 4)
	binary.BigEndian.PutUint32(sum, crc32.ChecksumIEEE(append(append([]byte{}, parts[0]...), parts[1]...)))
	whole := base64.StdEncoding.EncodeToString(sum)
	out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket(t)), Key: key,
		UploadId: created.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
		ChecksumCRC32: aws.String(whole), ChecksumType: types.ChecksumTypeFullObject})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if aws.ToString(out.ChecksumCRC32) != whole || out.ChecksumType != types.ChecksumTypeFullObject {
		t.Fatalf("completed with %q %q, want %q FULL_OBJECT", aws.ToString(out.ChecksumCRC32), out.ChecksumType, whole)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket(t)), Key: key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if aws.ToString(head.ChecksumCRC32) != whole {
		t.Fatalf("HEAD answers %q, want %q", aws.ToString(head.ChecksumCRC32), whole)
	}
}
